"""Set-up shared by every test process: the fast meta kernel for eval-mode batch norm
(tests/meta_batch_norm.py says why it changes no result)."""

import meta_batch_norm

meta_batch_norm.install()
