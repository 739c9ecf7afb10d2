"""The command lines: ``dualrec`` (:mod:`~firmware.cli.main`), ``dualrec-fleet``
(:mod:`~firmware.cli.fleet`) and the subcommands each module adds. The only place that may
import both the unit's code and the office's."""
