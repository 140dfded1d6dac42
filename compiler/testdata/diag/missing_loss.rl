recipe bad
reward r = acc
