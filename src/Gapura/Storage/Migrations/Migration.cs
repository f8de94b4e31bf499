namespace Gapura.Storage.Migrations;

/// <summary>
/// One numbered schema step, written once per back end. A step is never edited after release; a change
/// is a new step, so every database can tell exactly how far it has come.
/// </summary>
internal sealed record Migration(int Version, string Name, string Sqlite, string Postgres);
