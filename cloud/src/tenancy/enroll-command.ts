/**
 * The command a line PC runs with a new enrollment token: as the edge's service user, with the
 * config file of docs/INSTALL-PLANT.md and the cloud's public URL (RIGTRACE_PUBLIC_URL; without
 * it, the address the request came in on).
 */
export function enrollCommand(cloudUrl: string, token: string): string {
  return `sudo -u rigtrace rigtrace-edge enroll --config /etc/rigtrace/edge.yaml --cloud ${cloudUrl} --token ${token}`;
}
