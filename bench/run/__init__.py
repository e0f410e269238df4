"""The run: a profile's arms and steps in turn, each step's warm-up, load and measurements."""
