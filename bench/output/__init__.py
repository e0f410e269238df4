"""What a person sees: the terminal, the charts and the report."""
