module gocpu

go 1.19
