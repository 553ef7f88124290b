"""Following runs: their pure state (`progress`, `sync_progress`), the follower that keeps each
run's thread true, and what the leader runs while it leads (`streams`)."""
