// A real PostgreSQL for the tests: Debian's PostgreSQL 15, initialised in a temporary folder and
// started on a free loopback port (as the postgres user when the tests run as root), stopped at the end
// (lab/cluster/processes.ts). Tests skip with the reason when the binaries are absent
// (apt-get install postgresql; .ci/run installs it).
export { havePostgres, LocalPostgres as PostgresServer, noPostgresReason } from '../../lab/cluster/processes.ts';
