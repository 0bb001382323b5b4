"""Jobs: the queue rows a run's transaction writes (`queue`), the procrastinate app that runs
them with retries and stalled-job recovery (`app`), and the worker process (`worker`).

Nothing is imported here: `engine.runs` writes queue rows, and `app` imports `engine.runs`."""
