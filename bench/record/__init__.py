"""What a run records: the results folder, its columns, the step statistics and task records."""
