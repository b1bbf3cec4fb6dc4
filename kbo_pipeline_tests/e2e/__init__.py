"""The user's path end to end: the kbo command, the webserver and daemon, a browser, crashes, a wheel."""
