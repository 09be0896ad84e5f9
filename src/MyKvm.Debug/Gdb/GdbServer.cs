using System.Net;
using System.Net.Sockets;

namespace MyKvm.Debug.Gdb;

/// <summary>
/// <c>--gdb tcp::PORT</c>: listens for gdb and serves one client at a time with a <see cref="GdbStub"/> on a
/// background thread.
/// </summary>
public sealed class GdbServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly GdbStub _stub;
    private readonly TextWriter _log;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _clientSeen = new(false);
    private volatile bool _disposed;

    private GdbServer(TcpListener listener, GdbStub stub, TextWriter log)
    {
        _listener = listener;
        _stub = stub;
        _log = log;
        _thread = new Thread(AcceptLoop) { IsBackground = true, Name = "gdb server" };
    }

    /// <summary>The TCP port listened on (useful with port 0).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>
    /// Parses <c>tcp::1234</c>, <c>tcp:HOST:1234</c>, <c>:1234</c> or <c>1234</c> (QEMU's forms) and starts listening.
    /// Throws <see cref="ArgumentException"/> with a one-line message for a bad spec or a port in use.
    /// </summary>
    public static GdbServer Start(string spec, IDebugTarget target, Func<string, string>? monitor = null, TextWriter? log = null)
    {
        var (host, port) = ParseSpec(spec);
        var address = host is "" or "localhost" ? IPAddress.Loopback : host == "0.0.0.0" ? IPAddress.Any : IPAddress.TryParse(host, out var ip) ? ip
            : throw new ArgumentException($"--gdb {spec}: '{host}' is not an IP address");
        var listener = new TcpListener(address, port);
        try
        {
            listener.Start(1);
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"--gdb {spec}: cannot listen on port {port}: {e.Message}");
        }
        var server = new GdbServer(listener, new GdbStub(target, monitor, log), log ?? TextWriter.Null);
        server._thread.Start();
        return server;
    }

    public static (string Host, int Port) ParseSpec(string spec)
    {
        string s = spec.StartsWith("tcp:", StringComparison.Ordinal) ? spec[4..] : spec;
        int colon = s.LastIndexOf(':');
        string host = colon >= 0 ? s[..colon] : "";
        string portText = colon >= 0 ? s[(colon + 1)..] : s;
        if (!int.TryParse(portText, out int port) || port is < 0 or > 65535)
            throw new ArgumentException($"--gdb {spec}: expected tcp::PORT (for example tcp::1234)");
        return (host, port);
    }

    /// <summary>True while a gdb client is connected.</summary>
    public bool ClientConnected { get; private set; }

    /// <summary>
    /// When the machine ends with gdb attached, gives the stub a moment to send the exit (W) packet before the
    /// process goes away, so gdb prints "exited" rather than "connection closed".
    /// </summary>
    public void WaitForExitReported(TimeSpan timeout)
    {
        if (ClientConnected) _stub.ExitReported.Wait(timeout);
    }

    /// <summary>Blocks until a gdb client has connected (for <c>--gdb-wait</c> messages and tests).</summary>
    public bool WaitForClient(TimeSpan timeout) => _clientSeen.Wait(timeout);

    private void AcceptLoop()
    {
        while (!_disposed)
        {
            TcpClient client;
            try
            {
                client = _listener.AcceptTcpClient();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _clientSeen.Set();
            ClientConnected = true;
            _log.WriteLine($"mykvm: gdb connected from {client.Client.RemoteEndPoint}");
            using (client)
            {
                client.NoDelay = true;
                try
                {
                    _stub.Serve(client.GetStream());
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _log.WriteLine($"mykvm: gdb session ended by an internal error: {e.GetType().Name}: {e.Message}");
                }
            }
            ClientConnected = false;
            _log.WriteLine("mykvm: gdb disconnected");
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Stop();
        _clientSeen.Dispose();
    }
}
