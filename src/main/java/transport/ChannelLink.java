package transport;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelProgressivePromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.concurrent.GenericProgressiveFutureListener;
import io.netty.util.concurrent.ProgressiveFuture;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import protocol.Transport;
import sys.LibC;

/**
 * A connection on a Netty channel registered on the listener's event loop: TCP, Unix and vsock
 * alike. Reads arrive as the event loop reads them and go to the connection without a hop; writes
 * go into the channel's own outbound buffer, and pausing turns the channel's auto-read off. This
 * is the one back-pressure mechanism of every transport.
 */
final class ChannelLink extends ChannelInboundHandlerAdapter implements Link {
  private final Channel channel;
  private final ContextInternal context;
  private final Transport transport;
  private final String peer;
  private Handler<byte[]> data;
  private Handler<Void> closed;
  private Handler<Void> inputEnded;
  private boolean closedNotified;
  private long queued;
  private long progressAt = System.nanoTime();

  ChannelLink(Channel channel, ContextInternal context, Transport transport, String peer) {
    this.channel = channel;
    this.context = context;
    this.transport = transport;
    this.peer = peer;
  }

  @Override
  public Transport transport() {
    return transport;
  }

  @Override
  public String peer() {
    return peer;
  }

  @Override
  public void start(Handler<byte[]> data, Handler<Void> closed) {
    this.data = data;
    this.closed = closed;
    if (!channel.isActive()) {
      notifyClosed();
      return;
    }
    channel.config().setAutoRead(true);
  }

  @Override
  public void onInputEnded(Handler<Void> inputEnded) {
    // On TCP a peer's close and its shutdown of sending alike arrive as a FIN, so there the end
    // of input stays the end of the connection.
    if (transport != Transport.TCP && channel instanceof UnixChannel && LibC.available()) {
      this.inputEnded = inputEnded;
      channel.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ByteBuf buf = (ByteBuf) msg;
    byte[] chunk;
    try {
      chunk = new byte[buf.readableBytes()];
      buf.readBytes(chunk);
    } finally {
      buf.release();
    }
    if (data != null) {
      context.emit(chunk, data);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    notifyClosed();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
    if (event instanceof ChannelInputShutdownEvent) {
      if (inputEnded != null && peerStillReads()) {
        context.emit(null, inputEnded);
      } else {
        channel.close();
      }
    }
    ctx.fireUserEventTriggered(event);
  }

  /**
   * Whether the peer, whose input has ended, still reads: a send of no bytes fails (EPIPE) on an
   * AF_UNIX or AF_VSOCK socket whose peer has closed, and succeeds when the peer only shut down
   * its sending side.
   */
  private boolean peerStillReads() {
    int fd = ((UnixChannel) channel).fd().intValue();
    return LibC.send(fd, new byte[1], 0, LibC.MSG_NOSIGNAL) == 0;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    // A reset or any other socket error: this connection is over.
    channel.close();
  }

  private void notifyClosed() {
    if (closedNotified || closed == null) {
      return;
    }
    closedNotified = true;
    queued = 0;
    context.emit(null, closed);
  }

  @Override
  public Future<Void> write(byte[] bytes) {
    Promise<Void> done = context.promise();
    if (!channel.isActive()) {
      done.fail("connection closed");
      return done.future();
    }
    if (queued == 0) {
      progressAt = System.nanoTime();
    }
    queued += bytes.length;
    ChannelProgressivePromise p = channel.newProgressivePromise();
    p.addListener(new GenericProgressiveFutureListener<ProgressiveFuture<Void>>() {
      @Override
      public void operationProgressed(ProgressiveFuture<Void> f, long progress, long total) {
        progressAt = System.nanoTime();
      }

      @Override
      public void operationComplete(ProgressiveFuture<Void> f) {
        progressAt = System.nanoTime();
        if (!closedNotified) {
          queued -= bytes.length;
        }
        if (f.isSuccess()) {
          done.tryComplete();
        } else {
          done.tryFail(f.cause());
        }
      }
    });
    channel.writeAndFlush(Unpooled.wrappedBuffer(bytes), p);
    return done.future();
  }

  @Override
  public long queuedBytes() {
    return queued;
  }

  @Override
  public long lastWriteProgress() {
    return progressAt;
  }

  @Override
  public void pause() {
    channel.config().setAutoRead(false);
  }

  @Override
  public void resume() {
    channel.config().setAutoRead(true);
  }

  @Override
  public void close() {
    channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
  }

  @Override
  public void abort() {
    channel.close();
  }
}
