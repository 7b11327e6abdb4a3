module github.com/mip6ha/mip6ha

go 1.26
