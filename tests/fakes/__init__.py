"""Local stand-ins for the services dtf publishes to, and builders of stored runs for tests."""
