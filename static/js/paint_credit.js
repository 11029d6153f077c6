// Step frames paced by painting (docs/protocol.md §5). After the network view has drawn a new
// step frame the page reports it (`painted`), and while playing the server sends the main run's
// next step frame only after that report: no frame is built and sent to be dropped, and a page
// that draws new data 10 times a second is sent 10 frames, not 30.
//
// The report says when to make the next frame (`ready_in`, ms): when the view can next draw new
// data (while playing it redraws at most every 45 ms), less a lead for the frame's way here.
// The lead learns from each frame how long it waited for its paint: one that waited long was
// asked for too early, one drawn the moment it came probably missed the redraw before.

export const TARGET_WAIT_MS = 14;
const LEAD_MIN_MS = 0;
const LEAD_MAX_MS = 80;
const GAIN = 0.3;

export function startPaintCredit(view, connection, { now = () => performance.now(), lead = 15 } = {}) {
  const state = { lead };
  view.onPainted((frame, readyInMs) => {
    if (readyInMs > 0 && typeof frame.receivedAt === "number") {
      const waited = now() - frame.receivedAt;
      state.lead = Math.min(LEAD_MAX_MS, Math.max(LEAD_MIN_MS, state.lead + GAIN * (TARGET_WAIT_MS - waited)));
    }
    const run = frame.header && frame.header.run;
    const wait = readyInMs > 0 ? readyInMs - state.lead : 0;
    const report = { seq: frame.seq, ready_in: Math.min(1000, Math.max(0, Math.round(wait))) };
    connection.notify("painted", run ? { run, ...report } : report);
  });
  return state;
}
