package verticles;

import static verticles.Messages.UNTIMED;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import log.Log;
import protocol.Errors;
import protocol.FrameDecoder;
import protocol.Frames;
import protocol.InvalidRequestException;
import protocol.Request;
import protocol.RequestParser;
import protocol.Response;
import protocol.ResponseWriter;
import protocol.Transport;
import state.AgentState;
import state.Slots;
import transport.Link;

/**
 * One host connection, whatever its transport: cuts the byte stream into frames, turns each into a
 * typed request, sends it to the verticle that serves it, and writes the answers and events back.
 * Everything here runs on the listener's context.
 */
final class Connection implements WriteQueues.Holder {
  /**
   * The longest id, as written in an answer: so that every answer, the exit code and flags of a
   * run's included, fits a frame with the id echoed and room to spare for output.
   */
  static final long MAX_ID = 1024 * 1024;
  /** Reading requests pauses while this many response bytes wait to be written. */
  private static final long PAUSE_AT = 4L * 1024 * 1024;

  private final Vertx vertx;
  /** This connection's place among max_connections, taken by the listener. */
  private final Slots.Slot slot;
  private final EventBus bus;
  private final Link link;
  private final String id;
  /** The event loop this connection lives on, where its runs are served too. */
  private final Thread loop = Thread.currentThread();
  private final AgentState state;
  private final FrameDecoder decoder;
  /** Bytes of complete requests being served, over all connections. */
  private final FrameDecoder.Budget requests;
  /** Answers queued over all connections. */
  private final WriteQueues queues;
  /** What this connection has charged to {@link #queues} and not yet released. */
  private long queueCharge;
  private boolean queueReleased;
  private final byte[] token;
  private MessageConsumer<Messages.Outbound> outbound;
  private int inFlight;
  private boolean paused;
  private boolean closing;
  /** The host has shut down its sending side: answers are written, then the connection closes. */
  private boolean inputEnded;
  /** When the connection was accepted, and whether a valid request has come since. */
  private final long acceptedAt = System.nanoTime();
  private boolean validSeen;
  /** When the incomplete frame now being read began, or 0 between frames. */
  private long partialSince;
  private long frameTimer = -1;
  private long stallTimer = -1;

  Connection(Vertx vertx, Link link, String id, AgentState state, Slots.Slot slot,
      FrameDecoder.Budget budget, FrameDecoder.Budget requests, WriteQueues queues) {
    this.vertx = vertx;
    this.slot = slot;
    this.requests = requests;
    this.queues = queues;
    this.bus = vertx.eventBus();
    this.link = link;
    this.id = id;
    this.state = state;
    String t = state.config().authToken();
    this.token = t == null || link.transport() != Transport.TCP ? null
        : t.getBytes(StandardCharsets.UTF_8);
    this.decoder = new FrameDecoder(new FrameDecoder.Sink() {
      @Override
      public void frame(byte[] body) {
        onFrame(body);
      }

      @Override
      public void oversized(long length) {
        onOversized(length);
      }

      @Override
      public void overBudget(long length) {
        onOverBudget(length);
      }
    }, Frames.MAX_FRAME, budget);
  }

  void start() {
    outbound = bus.localConsumer(Addresses.conn(id), this::onOutbound);
    queues.add(this);
    state.metrics().connections(link.transport(), 1);
    link.onInputEnded(v -> onInputEnded());
    link.start(this::onData, v -> onClosed());
    armFrameTimer(state.config().frameTimeoutMs());
    Log.info("connection_opened", "connection", id, "transport", link.transport(), "peer",
        link.peer());
  }

  private void onData(byte[] chunk) {
    state.metrics().bytesIn(chunk.length);
    if (!closing) {
      decoder.feed(chunk);
      if (!decoder.isMidFrame()) {
        partialSince = 0;
      } else if (partialSince == 0) {
        // A frame began in this chunk: it has frame_timeout_ms from now to complete.
        partialSince = System.nanoTime();
        if (frameTimer < 0) {
          armFrameTimer(state.config().frameTimeoutMs());
        }
      }
    }
  }

  /**
   * The host will send nothing more but still reads (it shut down its sending side): what it has
   * asked is served and answered, then the connection closes. A frame it left incomplete can no
   * longer be, so it is dropped.
   */
  private void onInputEnded() {
    if (closing) {
      return;
    }
    inputEnded = true;
    Log.info("connection_input_ended", "connection", id, "in_flight", inFlight, "mid_frame",
        decoder.isMidFrame());
    partialSince = 0;
    if (inFlight == 0) {
      closeAfterWrites();
    }
  }

  /**
   * A connection must complete a valid request within frame_timeout_ms of being accepted, and
   * every frame it begins must complete within frame_timeout_ms: a host that says nothing, or
   * stops in the middle of a frame, does not hold a connection slot for ever. Between frames,
   * after a valid request, a connection may stay idle.
   */
  private void armFrameTimer(long delayMs) {
    frameTimer = vertx.setTimer(Math.max(1, delayMs), t -> {
      frameTimer = -1;
      if (closing) {
        return;
      }
      long limit = state.config().frameTimeoutMs() * 1_000_000L;
      long now = System.nanoTime();
      long since = !validSeen ? acceptedAt : partialSince;
      if (since == 0) {
        return;
      }
      long left = since + limit - now;
      if (left <= 0) {
        Log.warn("connection_timed_out", "connection", id, "reason",
            validSeen ? "frame not completed" : "no valid request", "timeout_ms",
            state.config().frameTimeoutMs());
        abort();
      } else {
        armFrameTimer(left / 1_000_000L + 1);
      }
    });
  }

  private void onOverBudget(long length) {
    Log.warn("frame_budget_exhausted", "connection", id, "bytes", length, "budget_bytes",
        state.config().frameBudgetBytes());
    send(Errors.toResponse("", Errors.busy("memory for incomplete frames (max "
        + state.config().frameBudgetBytes() + " bytes over all connections)")));
    closeAfterWrites();
  }

  private void onOversized(long length) {
    Log.warn("frame_too_large", "connection", id, "bytes", length);
    send(Response.error("", Errors.frameTooLarge(length)));
    closeAfterWrites();
  }

  private void onFrame(byte[] body) {
    if (closing) {
      return;
    }
    long t0 = System.nanoTime();
    long size = body.length;
    if (!requests.tryTake(size)) {
      // Served requests hold what they carried until they are answered: this one must wait.
      String rid = RequestParser.idOf(body);
      rid = ResponseWriter.escapedLength(rid) > MAX_ID ? "" : rid;
      Log.warn("request_budget_exhausted", "connection", id, "id", rid, "bytes", size,
          "budget_bytes", requests.limit());
      answer("unknown", t0, Errors.toResponse(rid, Errors.busy("memory for requests being served "
          + "(max " + requests.limit() + " bytes over all connections)")));
      return;
    }
    Request r;
    try {
      r = RequestParser.parse(body);
    } catch (InvalidRequestException e) {
      requests.give(size);
      // An id too long to be carried back is not echoed (see below), nor logged.
      String rid = ResponseWriter.escapedLength(e.id()) > MAX_ID ? "" : e.id();
      // The parser's message may quote the body, and bodies are never logged.
      Log.warn("invalid_request", "connection", id, "id", rid, "bytes", body.length);
      answer("invalid", t0, Response.error(rid, e.getMessage()));
      return;
    }
    if (!forwarded(r)) {
      // Answered here and now: nothing of it is held once this returns.
      requests.give(size);
    }
    long idBytes = ResponseWriter.escapedLength(r.id());
    if (idBytes > MAX_ID) {
      // No answer could carry it back whole; the error cannot either, so it has no id.
      releaseUnserved(r, size);
      Log.warn("invalid_request", "connection", id, "bytes", body.length, "reason", "id too long");
      answer("invalid", t0, Response.error("", Errors.invalid("field 'id' is too long ("
          + idBytes + " bytes, max " + MAX_ID + ")")));
      return;
    }
    String type = r.type().wire();
    if (token != null && !tokenMatches(r.authToken())) {
      Log.warn("unauthorized", "connection", id, "id", r.id());
      releaseUnserved(r, size);
      answer(type, t0, Response.error(r.id(), Errors.UNAUTHORIZED));
      closeAfterWrites();
      return;
    }
    validSeen = true;
    if (inFlight >= state.config().maxRequestsPerConnection()) {
      releaseUnserved(r, size);
      answer(type, t0, Errors.toResponse(r.id(), Errors.busy(
          "requests in flight on this connection (max "
          + state.config().maxRequestsPerConnection() + ")")));
      return;
    }
    if (Log.enabled(Log.Level.DEBUG)) {
      Log.debug("request", "connection", id, "id", r.id(), "type", type);
    }
    if (r instanceof Request.Refused refused) {
      answer(type, t0, Response.error(r.id(), refused.error()));
      return;
    }
    switch (r.type()) {
      case PING -> answer(type, t0, Response.ok(r.id()));
      case INFO -> answer(type, t0, AgentInfo.answer(state, r.id()));
      case SHUTDOWN -> answer(type, t0, Response.ok(r.id()))
          .onComplete(ar -> bus.send(Addresses.CONTROL, "shutdown"));
      default -> forward(Addresses.route(r, loop), r, t0, size);
    }
  }

  /** Requests served elsewhere: what they carry stays charged until they are answered. */
  private static boolean forwarded(Request r) {
    if (r instanceof Request.Refused) {
      return false;
    }
    return switch (r.type()) {
      case PING, INFO, SHUTDOWN -> false;
      default -> true;
    };
  }

  /** A request that would have been forwarded is answered here instead. */
  private void releaseUnserved(Request r, long size) {
    if (forwarded(r)) {
      requests.give(size);
    }
  }

  private boolean tokenMatches(String given) {
    byte[] g = given == null ? new byte[0] : given.getBytes(StandardCharsets.UTF_8);
    return MessageDigest.isEqual(token, g);
  }

  /**
   * Sends {@code r} along its route and writes the answer. When the answer's author asks to hear
   * back (it replied with {@code replyAndRequest}), it is told whether the answer was written.
   */
  private void forward(Addresses.Route route, Request r, long t0, long size) {
    inFlight++;
    Messages.Envelope envelope = new Messages.Envelope(id, r);
    bus.<Response>request(route.address(), envelope, UNTIMED)
        .recover(e -> route.fallback() != null && Messages.undelivered(e)
            ? bus.<Response>request(route.fallback(), envelope, UNTIMED) : Future.failedFuture(e))
        .onComplete(ar -> {
          inFlight--;
          requests.give(size);
          Response resp = ar.succeeded() ? ar.result().body()
              : Errors.toResponse(r.id(), ar.cause());
          Future<Void> written = answer(r.type().wire(), t0, resp);
          Message<Response> m = ar.succeeded() ? ar.result() : null;
          if (m != null && m.replyAddress() != null) {
            written.onComplete(w -> m.reply(new Messages.Written(id, w.succeeded())));
          }
          if (inputEnded && inFlight == 0 && !closing) {
            closeAfterWrites();
          }
        });
  }

  private void onOutbound(Message<Messages.Outbound> m) {
    Messages.Outbound o = m.body();
    // Output that waits for acknowledgement is bounded by its stream's window, not by the budget.
    Future<Void> written = send(o.frame(), o.ackAddress() == null);
    if (o.ackAddress() != null) {
      written.onSuccess(v -> bus.send(o.ackAddress(), new Messages.Ack(id, o.epoch(), o.offset())));
    }
  }

  /** Writes the answer to a request of wire type {@code type} and counts it. */
  private Future<Void> answer(String type, long t0, Response r) {
    state.metrics().request(type, r.outcome(), System.nanoTime() - t0);
    return send(r);
  }

  Future<Void> send(Response r) {
    return send(r, true);
  }

  /**
   * Writes one frame. A response that cannot fit a frame is cut down, see {@link #fitted}.
   *
   * @param budgeted whether the frame counts against write_queue_budget_bytes (all but output
   *     that waits for acknowledgement)
   */
  private Future<Void> send(Response r, boolean budgeted) {
    byte[] frame = ResponseWriter.frame(r);
    r.framed();
    if (frame.length - Frames.HEADER > Frames.MAX_FRAME) {
      Log.error("response_too_large", "connection", id, "id", r.id(), "bytes", frame.length);
      frame = ResponseWriter.frame(fitted(r, frame.length - Frames.HEADER));
    }
    if (link.queuedBytes() + frame.length > state.config().writeQueueMaxBytes()) {
      Log.warn("host_not_reading", "connection", id, "queued_bytes", link.queuedBytes(),
          "reason", "write queue full");
      abort();
      return Future.failedFuture("write queue full");
    }
    if (queueReleased) {
      return Future.failedFuture("connection closed");
    }
    long n = budgeted ? frame.length : 0;
    if (n > 0 && !queues.charge(this, n)) {
      closeOverBudget(queues.total() + n);
      return Future.failedFuture("write queue budget spent");
    }
    queueCharge += n;
    state.metrics().bytesOut(frame.length);
    Future<Void> f = link.write(frame).andThen(ar -> {
      if (!queueReleased && n > 0) {
        queueCharge -= n;
        queues.release(n);
      }
    });
    if (stallTimer < 0 && link.queuedBytes() > 0) {
      armStallTimer();
    }
    if (!paused && link.queuedBytes() > PAUSE_AT) {
      paused = true;
      link.pause();
    }
    return f.andThen(ar -> {
      if (paused && link.queuedBytes() < PAUSE_AT / 4) {
        paused = false;
        link.resume();
      }
    });
  }

  /**
   * What is sent instead of {@code r}, whose body of {@code bytes} does not fit a frame. The
   * handlers size their answers to fit, so this is a last guard, and it keeps what matters: the
   * answer's own smaller form ({@link Response#cut()}: a run keeps its exit code and flags, its
   * output emptied and flagged as cut). Any other answer becomes an error that says how large it
   * was (sending part of a file or a listing as if whole would be worse). Ids longer than
   * {@link #MAX_ID} are refused before, so that error fits; should one not, it goes without its
   * id rather than as a frame over the limit.
   */
  static Response fitted(Response r, long bytes) {
    Response cut = r.cut();
    if (cut != null && ResponseWriter.length(cut) <= Frames.MAX_FRAME) {
      return cut;
    }
    Response error = Response.error(r.id(), Errors.responseTooLarge(bytes));
    return ResponseWriter.length(error) <= Frames.MAX_FRAME ? error
        : Response.error("", Errors.responseTooLarge(bytes));
  }

  /**
   * While answers wait to be written, checks that the queue moves: a host that has read nothing
   * for write_stall_timeout_ms loses its connection at once.
   */
  private void armStallTimer() {
    long limit = state.config().writeStallTimeoutMs();
    stallTimer = vertx.setTimer(Math.max(1, Math.min(limit, 1000)), t -> {
      stallTimer = -1;
      if (link.queuedBytes() == 0) {
        return;
      }
      queues.relieve();
      if (closing) {
        return;
      }
      long idleMs = (System.nanoTime() - link.lastWriteProgress()) / 1_000_000L;
      if (idleMs >= limit) {
        Log.warn("host_not_reading", "connection", id, "queued_bytes", link.queuedBytes(),
            "reason", "no write progress", "timeout_ms", limit);
        abort();
      } else {
        armStallTimer();
      }
    });
  }

  @Override
  public long charged() {
    return queueCharge;
  }

  @Override
  public boolean stalled(long nanos) {
    return link.queuedBytes() > 0 && System.nanoTime() - link.lastWriteProgress() >= nanos;
  }

  @Override
  public void closeOverBudget(long totalBytes) {
    Log.warn("host_not_reading", "connection", id, "queued_bytes", link.queuedBytes(),
        "reason", "write queue budget", "total_bytes", totalBytes, "budget_bytes",
        queues.budget());
    releaseQueue();
    abort();
  }

  /** Gives back to the budget over all connections whatever this one still has queued. */
  private void releaseQueue() {
    if (!queueReleased) {
      queueReleased = true;
      queues.release(queueCharge);
      queueCharge = 0;
      queues.remove(this);
    }
  }

  private void closeAfterWrites() {
    closing = true;
    link.close();
  }

  /** Closes at once, dropping what is queued; runs and sessions are let go in onClosed. */
  private void abort() {
    closing = true;
    link.abort();
  }

  private void onClosed() {
    closing = true;
    boolean midFrame = decoder.isMidFrame();
    decoder.release();
    if (frameTimer >= 0) {
      vertx.cancelTimer(frameTimer);
      frameTimer = -1;
    }
    if (stallTimer >= 0) {
      vertx.cancelTimer(stallTimer);
      stallTimer = -1;
    }
    outbound.unregister();
    releaseQueue();
    slot.give();
    state.metrics().connections(link.transport(), -1);
    if (midFrame) {
      Log.info("connection_dropped_mid_frame", "connection", id);
    }
    if (!state.stopping()) {
      // (During shutdown the Run and Shell verticles end everything themselves.)
      bus.publish(Addresses.CONN_CLOSED, new Messages.ConnClosed(id));
    }
    Log.info("connection_closed", "connection", id);
  }
}
