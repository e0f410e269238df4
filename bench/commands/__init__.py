"""One module per sub-command, each with NAME, HELP, add_arguments(parser) and run(args) -> exit code."""
