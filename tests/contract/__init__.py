"""Contract tests: the project's ARM gateway and simulator against recorded real ARM traffic."""
