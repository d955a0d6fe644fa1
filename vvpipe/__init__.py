"""vvpipe: the DVC pipeline for the four vv-test tasks.

Importing the package caps the CPU instruction sets of torch's numerical libraries
(``vvpipe.numerics``) before any of its modules runs a tensor operation: some build constants when
imported, and the first operation fixes the kernels for the whole process.
"""

from vvpipe.numerics import pin_isa

pin_isa()
