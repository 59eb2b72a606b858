"""Where sentences meet the model.

- ``scheduler``: admission, fair order across requests, batches by the limits; one
  :class:`~service.engine.scheduler.Engine` behind it.
- ``streaming``: continuous batching (a running batch that sentences join and leave), in a
  thread of the server or in the model's process.
- ``process``: the model in a child process, restarted when it dies.
- ``shape``: what each request keeps of a sentence's vectors, applied where they are made.
"""
