"""Reading the environment into settings, beyond the tutorial: the readers that turn a
mistaken variable into one line, the DSNs' rules, the start-up checks, and error reports."""
