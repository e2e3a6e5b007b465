"""The warm launcher: a process with dtf's imports done that forks a child per command."""
