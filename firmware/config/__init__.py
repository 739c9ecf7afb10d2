"""The unit's configuration: one model per ``[section]`` (:mod:`~firmware.config.model`), loading
with every problem named at once (:mod:`~firmware.config.loading`), dangerous paths
(:mod:`~firmware.config.paths`) and the back office's signed bundles
(:mod:`~firmware.config.bundle`). Shared: the office signs bundles against the same model."""
