"""Following runs: pure run state and its transitions (`progress`), and the tracker that posts them."""
