"""REST service over :class:`elmo.Embedder` (FastAPI); imports ``elmo``, never the reverse."""
