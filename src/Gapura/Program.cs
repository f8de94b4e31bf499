using Gapura.Cli;

return await GapuraCli.RunAsync(args);
