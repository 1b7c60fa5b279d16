"""Running the model's code: the training launch, the process and its supervisor, the reused worker, the child environment, the metrics file."""
