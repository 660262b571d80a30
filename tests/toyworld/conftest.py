"""Toy-world tests run torch on one thread: on a small machine shared with other jobs, two
threads spin-wait on each other and make tiny models many times slower."""

import torch

torch.set_num_threads(1)
