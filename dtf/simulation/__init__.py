"""A discrete-event simulator that replays dtf's plans on a declared fleet; pure."""
