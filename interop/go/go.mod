module gort.example/interop

go 1.23
