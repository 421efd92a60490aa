"""Benchmarks: measurements that return data; `invoke bench` presents them."""
