// Step frames paced by painting (docs/protocol.md §5). After the network view has drawn a new
// step frame the page reports it (`painted`), and while playing the server sends the main run's
// next step frame only after that report: no frame is built and sent to be dropped, and a page
// that can draw 11 pictures a second is sent 11 frames, not 30.
//
// The report says when the view can draw new data again (`ready_in`, ms: while playing it
// redraws at most every 90 ms); the server builds the next frame just before then, so the frame
// drawn is as fresh as it can be.

export function startPaintCredit(view, connection) {
  view.onPainted((frame, readyInMs) => {
    const run = frame.header && frame.header.run;
    const report = { seq: frame.seq, ready_in: Math.min(1000, Math.max(0, Math.round(readyInMs))) };
    connection.notify("painted", run ? { run, ...report } : report);
  });
}
