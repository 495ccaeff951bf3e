"""Architecture search: proxies score genotypes cheaply, strategies propose them, studies keep
every result in an Optuna storage, executors run evaluations (inline, local processes, Ray),
and the pipeline ties it all to a teacher, final training and export."""
