"""pmp's benchmark suite (issue 7): pmp beside ProcessPoolExecutor, MPIPoolExecutor,
dask.distributed and the floors (pyzmq+pickle ping-pong, process spawn, srun steps).

Never part of the tests. Run it with benchmarks/run.py (see benchmarks/README.md)."""
