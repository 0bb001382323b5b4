package dev.weavergen;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

/**
 * Neo4j Community, embedded, reachable over Bolt on 127.0.0.1:PORT (no TLS, no auth, no HTTP).
 *
 * <p>Usage: {@code java -Xmx512m -cp target/classes:target/lib/* dev.weavergen.Neo4jLauncher HOME
 * PORT [--exit-on-stdin-eof]}
 *
 * <p>Prints {@code NEO4J READY bolt://127.0.0.1:PORT} once Bolt accepts connections, and {@code
 * NEO4J STOPPED} after a clean shutdown (SIGTERM/SIGINT run the shutdown hook). With
 * {@code --exit-on-stdin-eof} it also shuts down when its standard input closes, so a test
 * harness that dies does not leave a server behind. For development and tests only.
 */
public final class Neo4jLauncher {
  private Neo4jLauncher() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2 || args.length > 3) {
      System.err.println("usage: Neo4jLauncher HOME PORT [--exit-on-stdin-eof]");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath();
    int port = Integer.parseInt(args[1]);
    boolean exitOnEof = args.length == 3 && args[2].equals("--exit-on-stdin-eof");
    long started = System.nanoTime();

    DatabaseManagementService dbms =
        new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
            .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
            .setConfig(HttpConnector.enabled, false)
            .setConfig(HttpsConnector.enabled, false)
            .setConfig(GraphDatabaseSettings.auth_enabled, false)
            .setConfig(GraphDatabaseSettings.routing_enabled, false)
            .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(64))
            .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
            .setConfig(GraphDatabaseSettings.logical_log_rotation_threshold, ByteUnit.mebiBytes(16))
            // a test server: stop in well under a second instead of waiting 2 x 5 s for Bolt
            .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofMillis(200))
            .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofMillis(200))
            .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(2))
            .build();

    CountDownLatch stopped = new CountDownLatch(1);
    Thread hook =
        new Thread(
            () -> {
              try {
                dbms.shutdown();
                System.out.println("NEO4J STOPPED");
                System.out.flush();
              } finally {
                stopped.countDown();
              }
            },
            "neo4j-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);

    waitForBolt(port, Duration.ofSeconds(60));
    System.out.printf(
        "NEO4J READY bolt://127.0.0.1:%d (%d ms)%n", port, (System.nanoTime() - started) / 1_000_000);
    System.out.flush();

    if (exitOnEof) {
      Thread watcher =
          new Thread(
              () -> {
                InputStream in = System.in;
                try {
                  while (in.read() >= 0) {
                    // discard
                  }
                } catch (IOException ignored) {
                  // treat as EOF
                }
                System.exit(0); // runs the shutdown hook
              },
              "stdin-watcher");
      watcher.setDaemon(true);
      watcher.start();
    }
    stopped.await();
  }

  private static void waitForBolt(int port, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          System.err.println("NEO4J FAILED: Bolt did not accept connections on port " + port);
          System.exit(1);
        }
        Thread.sleep(50);
      }
    }
  }
}
