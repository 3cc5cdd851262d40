"""Change messages in place on the server (decrypt PGP, fix headers, slim attachments), keeping labels,
flags, dates and threads, with the archive holding every original (issue: rewrite in place)."""
