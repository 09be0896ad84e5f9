using MyKvm.Cli;

try
{
    return CommandLineInterface.Run(args);
}
catch (Exception e)
{
    // Never a stack trace for the user: one line, and the details only when asked for.
    Console.Error.WriteLine($"mykvm: internal error: {e.GetType().Name}: {e.Message}");
    if (Environment.GetEnvironmentVariable("MYKVM_DEBUG") == "1") Console.Error.WriteLine(e);
    return 3;
}
