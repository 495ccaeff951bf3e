"""Runtime services: devices, atomic files, checkpoints, metric logs and a torch work-around."""
