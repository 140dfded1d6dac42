//go:build !mpi

package dist

// MPIEnabled reports whether this binary was built with -tags mpi.
const MPIEnabled = false
