// Runs the simulators standalone (benchmarks, demos): dotnet run --project tests/Gapura.Simulators -- --urls http://127.0.0.1:9100
Console.WriteLine("simulator host: not yet wired");
