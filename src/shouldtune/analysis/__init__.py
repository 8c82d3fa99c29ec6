"""Analysis: pure functions over trials and predictions (numbers in, frozen records out)."""
