"""Fleet operators' tools: commands to units, the table of units, witnessed checkpoints."""
