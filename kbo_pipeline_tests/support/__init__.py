"""What the tests share: files, database helpers, the replay model, a fake portal, a webserver."""
