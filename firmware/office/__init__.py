"""What runs in the insurer's and the fleet operators' offices, never on the unit: fleet
operators' tools (``dualrec-fleet``), bucket verification, fetching and legal hold, and the
review export (``dualrec export``)."""
