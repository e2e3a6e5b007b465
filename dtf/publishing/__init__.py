"""Publishing a run's results through an outbox: JIRA, Slack, GitHub, GitLab, files."""
