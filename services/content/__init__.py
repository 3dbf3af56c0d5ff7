"""Content: posts, comments, likes, follows, circles, feeds, moderation, polls, search."""
