#!/bin/sh
# Builds and tests runtime/dist and runtime/dist/fsdp in every configuration
# that runs without a GPU; Makefile-independent. From the repository root:
#   sh runtime/dist/run-tests.sh          # vet + plain tests + MPI tests
# Needs gcc (the fake libnccl) and, for the MPI part, OpenMPI:
#   apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin
# Without mpirun or pkg-config ompi-c the MPI part is skipped with a message.
set -eu
cd "$(dirname "$0")/../.."
go vet ./runtime/dist/...
go vet -tags cuda ./runtime/dist/...
go test -count=1 ./runtime/dist/...
if command -v mpirun >/dev/null 2>&1 && pkg-config --exists ompi-c 2>/dev/null; then
	go vet -tags mpi ./runtime/dist/...
	go vet -tags cuda,mpi ./runtime/dist/...
	# The tests re-run their own binary under
	# mpirun --allow-run-as-root --oversubscribe -np 2 / -np 3.
	go test -count=1 -tags mpi -timeout 20m ./runtime/dist/...
else
	echo "run-tests.sh: OpenMPI not installed (mpirun, pkg-config ompi-c): MPI tests skipped" >&2
fi
