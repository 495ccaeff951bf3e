"""Runtime services: devices, atomic files, checkpoints and metric logs."""
