// Names of the uninstall handshake between the operator and the node agents (issue 12,
// docs/adr/0009-uninstall-handshake.md). Shared by operator/, components/ and cli/.

/** On the Installation: held by the operator until every node cleaned itself (or a bounded timeout). */
export const UNINSTALL_FINALIZER = 'operator.weft.dev/uninstall';

/** On a NodeNetwork, set by the operator when the Installation is being deleted: the agent of
 *  that node removes everything Weft put on it. Its value is the Installation's uid. */
export const UNINSTALL_ANNOTATION = 'network.weft.dev/uninstall';

/** NodeNetwork condition the agent sets once its node is clean (True) or cleaning failed (False). */
export const UNINSTALLED_CONDITION = 'Uninstalled';

/** Default bound on how long the finalizer waits for agents to report. */
export const DEFAULT_UNINSTALL_TIMEOUT_MS = 60_000;

export function uninstallRequested(nn: { metadata?: { annotations?: Record<string, string> } } | undefined): boolean {
  return !!nn?.metadata?.annotations?.[UNINSTALL_ANNOTATION];
}
