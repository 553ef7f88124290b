"""Pure rendering: `Reply` and run states -> Slack text and Block Kit. No I/O."""
